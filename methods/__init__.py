"""Methods, installed as `bench.methods`. Add one: a file here plus one line below."""

from bench.registry import Registry

METHODS = Registry(
    "method",
    {
        "erm": "bench.methods.erm:ERM",
        "balanced-softmax": "bench.methods.balanced_softmax:BalancedSoftmax",
        "ddpm-fill": "bench.methods.ddpm_fill:DDPMFill",
        "cbdm": "bench.methods.cbdm:CBDM",
    },
)
