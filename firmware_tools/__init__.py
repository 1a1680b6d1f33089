"""Technician tools: enroll, provision, bundle, deploy, probe."""
