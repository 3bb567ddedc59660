"""External systems the pipeline talks to, each with a start|stop|status script."""
