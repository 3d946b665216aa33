"""Operator tooling for SkillMind Analytics: settings, logging, the `skillmind` CLI,
and the supervisor that runs the real services locally without Docker."""
