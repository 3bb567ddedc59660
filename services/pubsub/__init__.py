"""The local Pub/Sub emulator (Go, on pstest) and a small admin/replay CLI."""
