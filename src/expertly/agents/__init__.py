"""The agent route: a ReAct loop that calls tools, plans, remembers and checks its work.

Agents sit on top of retrieval and the answerers: a tool calls retrieval, never the reverse.
"""
