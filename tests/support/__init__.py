"""Test support code: local stand-ins for external services (no mocks of our own code)."""
