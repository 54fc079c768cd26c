"""The benchmark harness behind ``squeeze bench``: squeeze's codecs and the
usual peers side by side in one run, every round trip verified."""
