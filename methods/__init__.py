"""Methods, installed as `bench.methods`. Add one: a file here plus one line below."""

from bench.registry import Registry

METHODS = Registry(
    "method",
    {
        "erm": "bench.methods.erm:ERM",
        "balanced-softmax": "bench.methods.balanced_softmax:BalancedSoftmax",
        "ddpm-fill": "bench.methods.ddpm_fill:DDPMFill",
        "crt": "bench.methods.crt:CRT",
        "lws": "bench.methods.lws:LWS",
        "rs": "bench.methods.rs:RS",
        "sqrt-rs": "bench.methods.sqrt_rs:SqrtRS",
        "mixup": "bench.methods.mixup:Mixup",
        "cutmix": "bench.methods.cutmix:CutMix",
        "logit-adjustment": "bench.methods.logit_adjustment:LogitAdjustment",
        "ldam-drw": "bench.methods.ldam_drw:LDAMDRW",
        "group-dro": "bench.methods.group_dro:GroupDRO",
        "dfr": "bench.methods.dfr:DFR",
        "cbdm": "bench.methods.cbdm:CBDM",
    },
)
