"""What several test modules share (processes, CLI runners, audio senders), so that no test
module imports another."""
