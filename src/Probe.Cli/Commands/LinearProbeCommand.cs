using System.CommandLine;
using Probe.Analysis;
using Probe.Reporting;

namespace Probe.Cli.Commands;

/// <summary><c>probe linear-probe</c>: multinomial logistic regression (ML.NET) on each layer's standardized features.</summary>
internal static class LinearProbeCommand
{
    public static Command Create(CliContext ctx)
    {
        var trainMask = CliOptions.InputFile("--train-mask", "An .npy bool vector: true = training sample, false = test sample (default: a seeded stratified split).");
        var trainer = new Option<ProbeTrainer>("--trainer")
        {
            Description = "Optimizer: lbfgs (ML.NET LbfgsMaximumEntropy, default), sdca (ML.NET SdcaMaximumEntropy) or torch (full-batch L-BFGS on libtorch; fastest on large matrices).",
            DefaultValueFactory = _ => ProbeTrainer.Lbfgs,
            CustomParser = r =>
            {
                string v = r.Tokens.Count > 0 ? r.Tokens[0].Value : "lbfgs";
                if (Enum.TryParse<ProbeTrainer>(v, ignoreCase: true, out var t) && !int.TryParse(v, out _)) return t;
                r.AddError($"--trainer must be lbfgs, sdca or torch, not '{v}'.");
                return ProbeTrainer.Lbfgs;
            },
        };
        var inputs = new LayerInputs { DeviceMath = r => r.GetValue(trainer) == ProbeTrainer.Torch };
        var testFraction = new Option<double>("--test-fraction") { Description = "Held-out fraction of the stratified split (without --train-mask or --run).", DefaultValueFactory = _ => 0.25 }
            .Satisfies(f => f > 0 && f < 1, "between 0 and 1 (exclusive)");
        var json = CliOptions.Json();
        var cmd = new Command("linear-probe",
            "Linear-probe accuracy per layer: multinomial logistic regression on standardized features (statistics of the training part), scored on the test part.")
            { trainMask, trainer, testFraction, json };
        inputs.AddTo(cmd);
        cmd.SetAction(p =>
        {
            // The torch trainer fits where --device says (the model, if any, runs there too); ML.NET's trainers on the CPU.
            var probe = new LinearProbe(p.GetValue(trainer), Seed: p.GetValue(inputs.Seed), TestFraction: p.GetValue(testFraction))
            {
                Device = p.GetValue(trainer) == ProbeTrainer.Torch ? inputs.Models.DeviceOf(p) : Probe.Capture.ComputeDevice.Cpu,
            };
            string? maskPath = p.GetValue(trainMask);
            var checkpoints = new List<(LayerSet Set, (string Layer, ProbeResult Result)[] Layers)>();
            foreach (var set in inputs.Load(p, maskPath, ctx))
            {
                var report = ctx.Report(set.Checkpoint is { } cp ? $"linear probes (epoch {cp.Epoch})" : "linear probes");
                checkpoints.Add((set, set.Layers.Select((t, i) =>
                {
                    ctx.Cancel.ThrowIfCancellationRequested();
                    try { return (t.Layer, probe.Run(t.Features, set.Labels, set.TrainMask)); }
                    catch (ProbeException e) { throw new ProbeException($"Layer '{t.Layer}': {e.Message}", e); }
                    finally { report(i + 1, set.Layers.Count); }
                }).ToArray()));
            }
            var warnings = RepresentationStudy.Plateau(checkpoints.Select(c => new CheckpointQuality(c.Set.Checkpoint?.Epoch, c.Set.Checkpoint?.TrainAccuracy,
                c.Set.Checkpoint?.TestAccuracy, c.Layers.Select(l => new LayerQuality(l.Layer, l.Result.Features, 0, null, l.Result.TrainAccuracy,
                    l.Result.TestAccuracy, l.Result.MacroAccuracy, l.Result.LogLoss, l.Result.ConfusionMatrix, l.Result.Classes, l.Result.TrainCount,
                    l.Result.TestCount, l.Result.Seconds)).ToArray())).ToList());
            string split = inputs.SplitSource(p, maskPath);
            if (p.GetValue(json))
            {
                ctx.Out.WriteLine(JsonOutput.Serialize(new
                {
                    split,
                    checkpoints = checkpoints.Select(c => new
                    {
                        epoch = c.Set.Checkpoint?.Epoch,
                        networkTrainAccuracy = c.Set.Checkpoint?.TrainAccuracy,
                        networkTestAccuracy = c.Set.Checkpoint?.TestAccuracy,
                        layers = c.Layers.Select(l => new { layer = l.Layer, probe = l.Result }),
                    }),
                    warnings,
                }, "the linear-probe results"));
                return ExitCodes.Ok;
            }
            bool run = checkpoints.Any(c => c.Set.Checkpoint != null);
            var headers = new List<string> { "layer", "features", "train", "test", "train acc", "test acc", "macro acc", "log loss", "seconds" };
            if (run) headers.InsertRange(0, ["epoch", "net train acc"]);
            var rows = checkpoints.SelectMany(c => c.Layers.Select(l =>
            {
                var r = l.Result;
                var cells = new List<string> { l.Layer, TextTable.Cell(r.Features), TextTable.Cell(r.TrainCount), TextTable.Cell(r.TestCount),
                    TextTable.Number(r.TrainAccuracy), TextTable.Number(r.TestAccuracy), TextTable.Number(r.MacroAccuracy), TextTable.Number(r.LogLoss),
                    CliOptions.F(r.Seconds, "F2") };
                if (run) cells.InsertRange(0, [LayerInputs.Label(c.Set), TextTable.Number(c.Set.Checkpoint!.TrainAccuracy)]);
                return (IReadOnlyList<string>)cells;
            }));
            ctx.Out.Write(TextTable.Render(headers, rows));
            ctx.Out.WriteLine($"Probe: {probe.Trainer.ToString().ToLowerInvariant()}, L2 {CliOptions.F(1.0)} (scikit-learn C = 1), split: {split}.");
            foreach (var w in warnings) ctx.Out.WriteLine("WARNING: " + w.Message);
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
