# Draws the benchmark charts from the data files tests/bench writes.
#   gnuplot -e "dir='docs/benchmarks'" tests/bench/plot.gp
if (!exists("dir")) dir = 'docs/benchmarks'

set terminal pngcairo size 1100,1000 font "DejaVu Sans,10"
set grid
set key outside right top
set datafile missing "NaN"

runs = "backfill-60-on backfill-60-off backfill-120-on backfill-120-off"
file(r) = sprintf("%s/%s.dat", dir, r)

set output dir.'/backfill.png'
set multiplot layout 3,1 title "Backfill (rate_limit_share 50, page_size 1000)"
set ylabel "requests in the last 60 s"
plot for [r in runs] file(r) using 1:4 with steps title r
set ylabel "events out per second"
plot for [r in runs] file(r) using 1:2 with lines title r
set ylabel "queued MiB"
set xlabel "seconds since the host started"
plot for [r in runs] file(r) using 1:5 with lines title r
unset multiplot
unset xlabel

set output dir.'/live.png'
set multiplot layout 3,1 title "Live tail (20 events/s, poll_interval 10s)"
set ylabel "lag (s)"
plot dir.'/live-lag.dat' using 1:($3 == 0 ? $2 : NaN) with points pt 7 ps 0.3 title "on time", \
     dir.'/live-lag.dat' using 1:($3 == 1 ? $2 : NaN) with points pt 7 ps 0.6 title "late (AppendLate)"
set ylabel "requests in the last 60 s"
plot dir.'/live.dat' using 1:4 with steps title "System Log requests"
set ylabel "events out per second"
set xlabel "seconds since the host started"
plot dir.'/live.dat' using 1:2 with impulses title "events"
unset multiplot
unset xlabel

set terminal pngcairo size 1100,700 font "DejaVu Sans,10"
set output dir.'/soak.png'
set multiplot layout 2,1 title "Soak (20 events/s)"
set ylabel "MiB"
plot dir.'/soak-proc.dat' using 1:2 with lines title "RSS (VmRSS)", \
     dir.'/soak-proc.dat' using 1:3 with lines title "peak RSS (VmHWM)"
set ylabel "threads"
set xlabel "seconds since the host started"
plot dir.'/soak-proc.dat' using 1:4 with steps title "Threads"
unset multiplot
