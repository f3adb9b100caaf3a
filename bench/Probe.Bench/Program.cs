using System.Reflection;
using Probe.Bench;

// Probe's benchmarks: each reports its figures as ratios against a baseline measured in the same run.
//   dotnet run -c Release --project bench/Probe.Bench -- [NAME ...] [--quick | --smoke]
// --smoke runs each benchmark once on tiny sizes (CI does, so benchmarks cannot rot); its figures mean nothing.
var benches = typeof(IBenchmark).Assembly.GetTypes()
    .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && !t.IsAbstract && !t.IsInterface)
    .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
    .OrderBy(b => b.Name, StringComparer.Ordinal)
    .ToList();
bool smoke = args.Contains("--smoke");
bool quick = smoke || args.Contains("--quick");
var names = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToList();
if (args.Contains("--list") || args.Contains("--help"))
{
    foreach (var b in benches) Console.WriteLine($"{b.Name,-24} {b.Description}");
    return 0;
}
var unknown = names.Where(n => benches.All(b => b.Name != n)).ToList();
if (unknown.Count > 0)
{
    Console.Error.WriteLine($"Unknown benchmark(s): {string.Join(", ", unknown)}. Available: {string.Join(", ", benches.Select(b => b.Name))}");
    return 2;
}
foreach (var b in benches.Where(b => names.Count == 0 || names.Contains(b.Name)))
{
    Console.WriteLine($"== {b.Name}: {b.Description}");
    b.Run(new BenchContext(quick, Console.Out, smoke));
}
return 0;
