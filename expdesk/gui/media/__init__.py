"""The Media views: runs x keys grids of images and text on a step slider, histograms over steps."""
