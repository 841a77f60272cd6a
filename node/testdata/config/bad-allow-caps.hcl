# allow_caps names Linux capabilities.
allow_caps = ["chown", "net_rwa"]
