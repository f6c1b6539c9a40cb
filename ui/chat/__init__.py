"""The Chainlit chat: buyers talk to the agent in a browser, mounted at ``/chat``.

``mount.mount_chat`` prepares Chainlit's folder and secret and mounts it on a FastAPI
app; ``app.py`` holds the Chainlit callbacks (Chainlit loads it by file path);
``data_layer`` keeps conversations in the store; ``charts`` and ``render`` turn tool
outputs into pictures and tables. Chainlit itself is imported only by the mount, never
at package import, because it reads its folder from the environment when first imported.
"""
