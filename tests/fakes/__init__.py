"""Local fakes of the platforms' HTTP APIs (and of the assistant), served on loopback."""
