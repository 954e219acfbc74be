"""Connections between peers: relay circuits and WebRTC data channels, the handshake, the peer manager."""
