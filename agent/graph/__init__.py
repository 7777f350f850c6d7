"""The LangGraph agent: state, runtime context, nodes, routers and the compiled graph."""
