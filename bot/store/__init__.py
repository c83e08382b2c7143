"""The gateway's store: customers, conversations, messages, tickets, outbox, audit trail."""
