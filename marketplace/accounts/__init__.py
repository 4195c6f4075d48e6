"""Departments, users and roles, API tokens, vendor eligibility."""
