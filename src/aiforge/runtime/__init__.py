"""The process a run lives in: distributed setup, device, seeding, signals, logging, console."""
