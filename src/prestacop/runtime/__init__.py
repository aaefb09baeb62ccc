"""Running the servers PrestaCop needs: embedded on a laptop, or given by URL."""
