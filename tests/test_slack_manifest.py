"""The Slack app manifest asks for what the desk uses, and nothing it does not."""

from __future__ import annotations

import yaml

from tests.conftest import PROJECT_ROOT


def test_manifest_has_the_scopes_events_and_command_the_desk_uses() -> None:
    manifest = yaml.safe_load((PROJECT_ROOT / "slack" / "manifest.yml").read_text(encoding="utf-8"))
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {
        "chat:write",
        "channels:history",
        "channels:read",
        "usergroups:read",
        "commands",
    } <= scopes
    assert not {"admin", "chat:write.customize", "users:read.email"} & scopes
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"message.channels", "message.groups"} == events
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/care-queue"]
