"""One feature per module; each ends in `async def setup(bot)`."""
