"""The worker's HTTP routes, one router per group of endpoints."""
