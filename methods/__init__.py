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
        "fg-loss": "bench.methods.fg:FGLoss",
        "fg-entropy": "bench.methods.fg:FGEntropy",
        "fg-hardness": "bench.methods.fg:FGHardness",
        "fg-combined": "bench.methods.fg:FGCombined",
        "augcond-random-image": "bench.methods.augcond:AugCondRandomImage",
        "augcond-dropout": "bench.methods.augcond:AugCondDropout",
        "augcond-mixup": "bench.methods.augcond:AugCondMixup",
        "augcond-mixup-dropout": "bench.methods.augcond:AugCondMixupDropout",
        "augcond-embed-mixup": "bench.methods.augcond:AugCondEmbedMixup",
        "augcond-embed-mixup-dropout": "bench.methods.augcond:AugCondEmbedMixupDropout",
        "augcond-cutmix": "bench.methods.augcond:AugCondCutmix",
        "augcond-cutmix-dropout": "bench.methods.augcond:AugCondCutmixDropout",
        "augcond-embed-cutmix": "bench.methods.augcond:AugCondEmbedCutmix",
        "augcond-embed-cutmix-dropout": "bench.methods.augcond:AugCondEmbedCutmixDropout",
        "ldm-txt": "bench.methods.ldm_txt:LDMTxt",
        "ldm-txt-img": "bench.methods.ldm_txt:LDMTxtImg",
    },
)
