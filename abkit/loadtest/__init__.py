"""Open-loop load testing of the suggestion service: fixed request rates, latency summaries."""
