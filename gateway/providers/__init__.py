"""Where functions come from: the provider interface (`base`) and its implementations
(`static`, `swarm`). Providers never know about HTTP requests."""
