"""Tests of monitor/alerts, one module per source module."""
