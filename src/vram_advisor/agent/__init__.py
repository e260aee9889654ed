"""Long-running agents: the read-only HTTP agent and the MCP server."""
