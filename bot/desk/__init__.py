"""The agents' desk: handover tickets worked in Slack."""
