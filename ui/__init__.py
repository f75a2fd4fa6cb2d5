"""The browser chat: a Gradio app over `rag.Assistant` (`rag chat`)."""
