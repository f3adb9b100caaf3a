using System.Globalization;
using LayerCorrespondence;

// Reproduces Kornblith et al. 2019, Table 2 on small networks: see LayerCorrespondenceStudy.
bool plain = args.Contains("--plain10") || Environment.GetEnvironmentVariable("PROBE_PLAIN10") == "1";
var s = plain ? CorrespondenceSettings.Plain10Setting() : new CorrespondenceSettings();
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
    int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
    switch (args[i])
    {
        case "--seeds": s = s with { Seeds = Int() }; break;
        case "--epochs": s = s with { Epochs = Int() }; break;
        case "--max-samples": s = s with { MaxSamples = Int() }; break;
        case "--arch": s = s with { Architectures = Next().Split(',') }; break;
        case "--fashion": s = s with { Datasets = [.. s.Datasets, "fashion-mnist"] }; break;
        case "--fashion-train": s = s with { FashionTrainSamples = Int() }; break;
        case "--seed": s = s with { Seed = Int() }; break;
        case "--plain10": break;
        case "--plain-width": s = s with { PlainWidth = Int() }; break;
        case "--plain-epochs": s = s with { PlainEpochs = Int() }; break;
        case "--help" or "-h":
            Console.WriteLine("LayerCorrespondence [--seeds K] [--epochs E] [--max-samples M] [--arch mlp,mlp-deep,cnn] [--fashion] [--fashion-train N] [--seed S]");
            Console.WriteLine("       LayerCorrespondence --plain10 [--plain-width W] [--plain-epochs E] [--seeds K] [--fashion-train N] (or PROBE_PLAIN10=1):");
            Console.WriteLine("       Kornblith's plain 10-layer CNN on Fashion-MNIST (opt-in; about half an hour of CPU with the defaults).");
            Console.WriteLine("Trains K networks per architecture from different seeds and reports how often the layer of network B most");
            Console.WriteLine("similar to layer i of network A is layer i (Kornblith et al. 2019, Table 2), by every similarity measure.");
            return 0;
        default: Console.Error.WriteLine($"Unknown argument '{args[i]}' (try --help)."); return 2;
    }
}
var clock = System.Diagnostics.Stopwatch.StartNew();
LayerCorrespondenceStudy.Run(s, Console.Out);
Console.WriteLine($"Total {clock.Elapsed.TotalSeconds:F0} s.");
return 0;
