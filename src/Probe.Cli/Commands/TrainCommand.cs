using System.CommandLine;
using Probe.Data;
using Probe.Models;

namespace Probe.Cli.Commands;

/// <summary><c>probe train</c>: trains a model with a checkpoint per epoch into a run folder.</summary>
internal static class TrainCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CliOptions.Model(required: true);
        var data = CliOptions.Data(required: true);
        var epochs = new Option<int>("--epochs") { Description = "Training epochs.", Required = true }.AtLeast(0);
        var lr = new Option<double>("--lr") { Description = "Learning rate.", DefaultValueFactory = _ => 1e-3 }.Satisfies(v => v > 0 && double.IsFinite(v), "a positive number");
        var batch = CliOptions.BatchSize(32);
        var seed = CliOptions.Seed();
        var optimizer = new Option<string>("--optimizer") { Description = "adam or sgd.", DefaultValueFactory = _ => "adam" };
        optimizer.AcceptOnlyFromAmong("adam", "sgd");
        var testFraction = new Option<double>("--test-fraction") { Description = "Fraction of samples held out for testing.", DefaultValueFactory = _ => 0.2 }.Satisfies(f => f is >= 0 and < 1, "in [0, 1)");
        var outDir = CliOptions.Out(required: true, "The run folder to write (run.json and checkpoints/).");
        var force = new Option<bool>("--force") { Description = "Replace an existing run folder at --out." };
        var device = CliOptions.Device();
        var cmd = new Command("train", "Train a model, writing a checkpoint per epoch (and epoch 0) and run.json.")
            { model, data, epochs, lr, batch, seed, optimizer, testFraction, outDir, force, device };
        cmd.Validators.Add(r =>
        {
            if (r.GetValue(outDir) is string o && !r.GetValue(force) && (File.Exists(o) || Directory.Exists(o) && Directory.EnumerateFileSystemEntries(o).Any()))
                r.AddError($"'{o}' already exists; give a new folder, or --force to replace it.");
        });
        cmd.SetAction(p =>
        {
            string modelText = p.GetValue(model)!;
            var spec = ModelSpec.Parse(modelText);
            string dataSpec = p.GetValue(data)!;
            var dataset = CliOptions.LoadData(dataSpec);
            // A resnet or torchvision spec without cCLASSES would train ImageNet's 1000 outputs on data of a few classes:
            // it gets one output per class of the data instead.
            if (!ModelSpec.NamesClasses(modelText) && dataset.ClassCountOf() is int k and > 0 && k != spec.Outputs)
            {
                spec = spec.WithClasses(k);
                ctx.Out.WriteLine($"Model {spec}: {k} outputs, one per class of '{dataset.Name}' (add :cN to the spec for another number).");
            }
            string final = Path.GetFullPath(p.GetValue(outDir)!).TrimEnd('/');
            // Train into a hidden staging folder and move it into place when complete: an interrupted run leaves nothing.
            string staging = Path.Combine(Path.GetDirectoryName(final)!, "." + Path.GetFileName(final) + ".partial-" + Environment.ProcessId);
            using var pending = ProbeCli.Pending(staging);
            var trainer = new Trainer(p.GetValue(optimizer)!, p.GetValue(epochs), p.GetValue(batch), p.GetValue(lr), p.GetValue(seed), p.GetValue(testFraction))
            {
                Device = CliOptions.DeviceOf(p, device),
                Cancellation = ctx.Cancel,
                OnCheckpoint = c => ctx.Out.WriteLine($"epoch {c.Epoch,3}  train loss {CliOptions.F(c.Metrics.TrainLoss, "F4")}  train acc {CliOptions.F(c.Metrics.TrainAccuracy, "F4")}  test acc {(c.Metrics.TestAccuracy is double t ? CliOptions.F(t, "F4") : "-")}"),
            };
            try
            {
                var run = trainer.Train(spec, dataset, dataSpec, staging);
                if (Directory.Exists(final) || File.Exists(final))
                {
                    if (File.Exists(final)) File.Delete(final); else Directory.Delete(final, true);
                }
                Directory.Move(staging, final);
                ctx.Out.WriteLine($"Wrote {Path.Combine(final, RunFolder.RunFile)} and {run.Checkpoints.Count} checkpoints.");
            }
            finally
            {
                if (Directory.Exists(staging)) Directory.Delete(staging, true);
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
