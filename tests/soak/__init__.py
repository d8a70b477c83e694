"""Unit tests of the soak harness's pure parts."""
