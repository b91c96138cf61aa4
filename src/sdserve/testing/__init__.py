"""Test doubles that stand in for real parts of sdserve in control-plane tests."""
