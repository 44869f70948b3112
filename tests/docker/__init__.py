"""The docker-compose topology: its compose file read without Docker and stood up as
network namespaces on a bridge (root), and the image build."""
