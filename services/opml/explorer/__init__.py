"""The explorer: a web server that indexes the Coordinator's and DisputeGame's events and shows requests, games
(the bisection as a picture, the clocks, the decisive step) and the money, with a JSON API behind every page.

    index.py    pure: chain events in, the explorer's state out (requests, games, levels and rounds, money)
    picture.py  pure: a game's bisection as SVG; inputs.py: a request's input as people know it
    follower.py I/O: follows the chain (heads, logs, game reads), re-indexes after a chain restart
    app.py      the Starlette app: pages, JSON API, server-sent events; cli.py: `opml explorer`

Layer: above `node` (it reads the deployment file and uses the node's chain monitor), below the demos.
"""
