"""Looking at what runs on a host: ps, inspect, logs and stats. Reads only."""
