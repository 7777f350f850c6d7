"""Event datasets: LeRobot v3 layout on disk, event-aligned samples, balanced sampling, packing."""
