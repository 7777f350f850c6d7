"""The MuJoCo tabletop world: scene, simulator, task suite, scripted expert, faults and oracle."""
