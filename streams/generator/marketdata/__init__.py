"""The market-data feeds of the day: crypto on three venues, USD/COP, heartbeats, session calendars."""
