"""The conversation core of the gateway: what happens to a customer's message.

It knows no platform, channel or desk: channels hand it
:class:`bot.messages.InboundMessage` objects, and it tells an optional desk
through the :class:`bot.conversation.handover.Desk` protocol.

* ``ingest``: storing what channels read (then waking the inbox), setting
  aside what can never be stored;
* ``leases``: which worker handles a conversation now (the only lease SQL);
* ``ownership``: who speaks, bot, queue or agent (the only place it changes);
* ``turns``: a stored message handled: to the assistant, or kept for a person;
* ``replies``: replies stored and queued, and the public privacy check;
* ``handover``: tickets, their context, the desk protocol;
* ``waiting``: a handed-over customer's wait (the notice, the one update, the bot back);
* ``csat``: satisfaction asked once after a resolution, and the customer's tap recorded once.
"""
