using System.CommandLine;
using System.Diagnostics;
using Probe.Cli.Commands;
using Probe.Data;
using Probe.Models;
using Probe.Reporting;

namespace Probe.Cli.Demo;

/// <summary>
/// <c>probe demo</c>: the README's main job. Trains the digits MLP with checkpoints (and a second run with a learning
/// rate high enough to kill units) and writes a report folder with every section Probe has.
/// </summary>
internal static class DemoCommand
{
    public static Command Create(CliContext ctx)
    {
        var outDir = CliOptions.Out(required: false, "Report folder to write (default: probe-demo).");
        var seed = CliOptions.Seed();
        var quick = new Option<bool>("--quick") { Description = "Fewer epochs and samples: a fast smoke run." };
        var cmd = new Command("demo", "Train the digits MLP with checkpoints and write a full report folder.") { outDir, seed, quick };
        cmd.SetAction(p =>
        {
            string dir = p.GetValue(outDir) ?? "probe-demo";
            Run(new DemoSettings(p.GetValue(seed), p.GetValue(quick)), dir, ctx.Out);
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>Runs the whole demo into <paramref name="dir"/>; returns the path of index.html.</summary>
    public static string Run(DemoSettings settings, string dir, TextWriter log)
    {
        var total = Stopwatch.StartNew();
        Directory.CreateDirectory(dir);
        var data = DataSource.Parse(DemoSettings.DataSpec).Load();
        var spec = ModelSpec.Parse(DemoSettings.Model);
        log.WriteLine($"Training {spec} on {data.Name} ({data.Count} samples) for {settings.Epochs} epochs ...");
        var run = settings.MainTrainer.Train(spec, data, DemoSettings.DataSpec, Path.Combine(dir, "runs", "main"));
        log.WriteLine($"Training the same model with {settings.HighLearningRateTrainer.Optimizer} at learning rate {settings.HighLearningRateTrainer.LearningRate} (high enough to kill units) ...");
        var high = settings.HighLearningRateTrainer.Train(spec, data, DemoSettings.DataSpec, Path.Combine(dir, "runs", "high-lr"));

        var report = new ReportFolder(dir, "Probe demo: what the digits MLP learned");
        var ctx = new DemoContext(data, DemoSettings.DataSpec, run, high, report, dir, settings.Seed, settings.Quick, log);
        RunSection.Add(ctx);
        DeadUnitsSection.Add(ctx);
        EvolutionSection.Add(ctx);
        RepresentationSection.Add(ctx);
        CkaSection.Add(ctx);
        string index = report.Write();
        log.WriteLine($"Report written to {Path.GetFullPath(index)}");
        return index;
    }
}

/// <summary>The run summary: model, data, seed, and per checkpoint loss and accuracy.</summary>
internal static class RunSection
{
    public const string Name = "Training runs";

    public static void Add(DemoContext ctx)
    {
        foreach (var (label, run) in new[] { ("main", ctx.Run), ("high-lr", ctx.HighLearningRateRun) })
        {
            var info = run.Info;
            ctx.Report.AddJson(Name, label, new { directory = Path.GetRelativePath(ctx.OutputDirectory, run.Directory), info.Model, info.Data, info.Seed, info.Optimizer, checkpoints = info.Checkpoints.Select(c => new { c.Epoch, c.File, c.TrainLoss, c.TrainAccuracy, c.TestAccuracy }) });
            ctx.Report.AddTable(Name, $"Run '{label}': {info.Model}, {info.Optimizer.Name} lr {info.Optimizer.LearningRate}",
                new[] { "epoch", "train loss", "train accuracy", "test accuracy" },
                info.Checkpoints.Select(c => (IReadOnlyList<object?>)new object?[] { c.Epoch, c.TrainLoss, c.TrainAccuracy, c.TestAccuracy }));
        }
    }
}
