"""Tools an agent may call, behind one small protocol, registered by name.

A workspace enables tools by name (``agent.tools``); the agent can call only those, whatever
a document or a model's reply asks for.
"""

from expertly.agents.tools.base import Tool, ToolError, ToolRegistry, ToolResult
from expertly.agents.tools.factory import (
    ToolContext,
    build_tools,
    register_tool,
    registered_tools,
    unregister_tool,
)

__all__ = [
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "build_tools",
    "register_tool",
    "registered_tools",
    "unregister_tool",
]
