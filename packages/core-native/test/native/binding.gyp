{
  "targets": [
    {
      "target_name": "poke",
      "sources": ["poke.c"],
      "cflags": ["-O0"]
    },
    {
      "target_name": "keepmaps",
      "type": "shared_library",
      "sources": ["keepmaps.c"],
      "libraries": ["-ldl"]
    },
    {
      "target_name": "p11pause",
      "type": "shared_library",
      "sources": ["p11pause.c"],
      "libraries": ["-ldl"]
    }
  ]
}
