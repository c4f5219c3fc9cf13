"""Tests of the nerve_lib client against a fake MS."""
