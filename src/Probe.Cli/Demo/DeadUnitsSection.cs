using Probe.Analysis;
using Probe.Reporting.Sections;

namespace Probe.Cli.Demo;

/// <summary>
/// Dead units of both demo runs: the per-layer table, alive/dying/dead bars, firing-rate histograms, the units x
/// checkpoints timelines and the dead fraction over training. The high-learning-rate run is there to have units to find.
/// </summary>
internal static class DeadUnitsSection
{
    public const string Name = "Dead units";

    public static void Add(DemoContext ctx)
    {
        ctx.Report.AddText(Name,
            "A ReLU unit is dead when it outputs 0 for every sample: it passes no signal forward and its own weights get no gradient, " +
            "so it comes back only if the layers below it happen to move its inputs. Dying units fire on fewer than 1% of the samples. For each dead unit Probe reads the weights of the " +
            "Linear layer feeding it: 'bias too low' means bias + ||w|| x (largest input norm in the data) <= 0, so no input like " +
            "the data can switch it on; 'data never reaches 0' means some input could, but none of the data does.");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var study = new DeadUnitStudy();
        foreach (var (label, run) in new[] { ("main", ctx.Run), ("high-lr", ctx.HighLearningRateRun) })
        {
            var timeline = study.RunCheckpoints(run, ctx.Data);
            var final = timeline.Final;
            ctx.Log.WriteLine($"Dead units ({label}, {timeline.Epochs.Length} checkpoints, {clock.Elapsed.TotalSeconds:0.0} s): " + string.Join(", ", final.Layers.Select(l => $"{l.Layer} {l.Stats.DeadUnits.Length}/{l.Stats.Units}")));
            var t = timeline.Layers;
            string counts = string.Join(", ", final.Layers.Select(l => $"{l.Layer} {l.Stats.DeadUnits.Length} of {l.Stats.Units}"));
            int fromInit = t.Sum(x => x.DeadFromInitialisation), died = t.Sum(x => x.DiedInTraining);
            ctx.Report.AddText(Name, (label == "main"
                ? $"Run 'main' ({run.Info.Optimizer.Name}, learning rate {run.Info.Optimizer.LearningRate}) is the reference, trained with the demo's settings. "
                : $"Run 'high-lr' ({run.Info.Optimizer.Name}, learning rate {run.Info.Optimizer.LearningRate}) takes steps far too large: " +
                  "a bad update can push a unit's pre-activation below zero for every input, and a dead unit gets no gradient to come back. " +
                  "Compare its bars and timelines with run 'main'. ") +
                $"Dead at the last checkpoint: {counts}; {fromInit} of them were dead from initialisation and {died} died during training.");
            DeadUnitFigures.AddTo(ctx.Report, Name, final, timeline, label);
        }
    }
}
