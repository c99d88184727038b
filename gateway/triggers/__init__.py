"""Event triggers: cron schedules and broker topics call functions through the async
path (docs/triggers.md)."""
