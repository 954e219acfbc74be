"""The worker app a browser tab runs: start and leave, the status feed, and the dashboard cards' backends.

web/worker.js boots Pyodide and hands every message from the page to `pynode.browser.app.on_message`. This
package composes a Node with the browser platform (`pynode.platform.browser`) and the runtimes; it runs in
Pyodide only.
"""
