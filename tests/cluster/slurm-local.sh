#!/bin/sh
# A throw-away one-node Slurm on this machine (HDF5.md §4), to try submit-slurm.sh for real:
#   tests/cluster/slurm-local.sh start     # writes /etc/slurm/slurm.conf if absent, starts
#                                          # munged, slurmctld, slurmd (pid files in /tmp/salbench-slurm, /run/munge)
#   tests/cluster/slurm-local.sh stop      # stops exactly those daemons
# Needs root and the Debian packages slurm-wlm and munge (apt-get install --no-install-recommends
# slurm-wlm munge). Not part of `make test`: it changes /etc and runs daemons.
set -eu
D=/tmp/salbench-slurm
case "${1:-}" in
start)
    mkdir -p "$D" /var/spool/slurmctld /var/spool/slurmd /run/munge
    chown munge:munge /run/munge
    if [ ! -f /etc/slurm/slurm.conf ]; then
        cat >/etc/slurm/slurm.conf <<EOF
ClusterName=salbench
SlurmctldHost=$(hostname)
SlurmUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
NodeName=$(hostname) NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=local Nodes=$(hostname) Default=YES MaxTime=INFINITE State=UP
EOF
    fi
    runuser -u munge -- munged --pid-file=/run/munge/salbench-munged.pid
    slurmctld -D >"$D/ctld.out" 2>&1 & echo $! >"$D/slurmctld.pid"
    slurmd -D >"$D/d.out" 2>&1 & echo $! >"$D/slurmd.pid"
    i=0
    until sinfo -h -o %T 2>/dev/null | grep -q idle; do
        i=$((i + 1)); [ $i -lt 60 ] || { echo "slurm-local: node not idle after 30 s" >&2; exit 1; }
        sleep 0.5
    done
    echo "slurm-local: up ($(sinfo -h -o '%P %D %T'))"
    ;;
stop)
    for f in "$D/slurmd.pid" "$D/slurmctld.pid" /run/munge/salbench-munged.pid; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
        rm -f "$f"
    done
    echo "slurm-local: stopped"
    ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
