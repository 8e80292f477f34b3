"""jaxgen's experiments: one module per experiment (get_config + make_task), installed as the
package ``jaxgen_experiments`` and registered under the entry-point group
``jaxgen.experiments`` (setup.cfg), which is how `jaxgen train NAME` finds them."""
